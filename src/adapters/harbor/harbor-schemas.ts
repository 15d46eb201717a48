/**
 * zod schemas of the Harbor API v2.0 answers berth reads (only the fields it uses; Harbor sends
 * many more, which are dropped).
 */
import { z } from "zod";
import { scanOverviewSchema } from "./scan-summary.js";

/** `Errors`: the body of every Harbor error answer. */
export const harborErrorsSchema = z.object({
  errors: z
    .array(z.object({ code: z.string().optional(), message: z.string().optional() }))
    .nullish(),
});

/** `Project` */
export const harborProjectSchema = z.object({
  project_id: z.number().int(),
  name: z.string(),
  metadata: z.object({ auto_scan: z.string().nullish() }).nullish(),
});

/** `Tag` */
export const harborTagSchema = z.object({
  id: z.number().int().optional(),
  name: z.string(),
  push_time: z.string().optional(),
});

/** `Artifact` */
export const harborArtifactSchema = z.object({
  id: z.number().int(),
  digest: z.string().min(1),
  size: z.number().int().nonnegative().optional(),
  media_type: z.string().optional(),
  push_time: z.string().optional(),
  repository_name: z.string().optional(),
  tags: z.array(harborTagSchema).nullish(),
  scan_overview: scanOverviewSchema.nullish(),
});

/** Harbor's `Artifact` as zod parsed it. */
export type HarborArtifactBody = z.output<typeof harborArtifactSchema>;
