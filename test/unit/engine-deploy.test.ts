import { describe, expect, it } from "vitest";
import { logTailLines } from "../../src/adapters/docker/engine-containers.js";
import { createRedactor } from "../../src/domain/redact.js";
import { DeployFailure, deployFailure, PREVIEW_LOG_OPTIONS, previewUrls, unhealthyReason } from "../../src/targets/engine-deploy.js";

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

const preview = { timeout: 90_000, healthPath: "/healthz" };

describe("previewUrls", () => {
  it("puts the preview host into the URL people open and the probe host into the health probe and the gateway's upstream", () => {
    expect(previewUrls("preview.example.com", "127.0.0.1", 32768, "/healthz")).toEqual({
      url: "http://preview.example.com:32768/",
      probeUrl: "http://127.0.0.1:32768/healthz",
      upstream: "http://127.0.0.1:32768",
    });
  });

  it("brackets IPv6 literals", () => {
    expect(previewUrls("::1", "fd00::2", "8080", "/")).toEqual({ url: "http://[::1]:8080/", probeUrl: "http://[fd00::2]:8080/", upstream: "http://[fd00::2]:8080" });
  });
});

describe("unhealthyReason", () => {
  it("names the reason a wait ended early", () => {
    expect(unhealthyReason({ healthy: false, attempts: 2, elapsedMs: 900, gaveUp: "stopped before it became healthy (exit code 3)" }, preview)).toBe(
      "preview stopped before it became healthy (exit code 3)",
    );
  });

  it("names the timeout, the health path and the last answer otherwise", () => {
    expect(unhealthyReason({ healthy: false, attempts: 9, elapsedMs: 90_000, lastStatus: 503 }, preview)).toBe(
      "preview did not become healthy within 1m 30s at /healthz (last answer: HTTP 503)",
    );
    expect(unhealthyReason({ healthy: false, attempts: 9, elapsedMs: 90_000, lastError: "ECONNREFUSED" }, preview)).toBe(
      "preview did not become healthy within 1m 30s at /healthz (last attempt: ECONNREFUSED)",
    );
  });
});

describe("deployFailure", () => {
  it("keeps berth's own words, then the clean-up outcome, then the log lines", () => {
    const failure = deployFailure(new DeployFailure("preview task failed"), ["line 1", "line 2"], "; rolled back to abc1234");
    expect(failure).toEqual({ reason: "preview task failed", message: "preview task failed; rolled back to abc1234\nline 1\nline 2" });
  });

  it("words any other error as a start failure with the engine's message", () => {
    const engineError = Object.assign(new Error("(HTTP code 404) no such image"), { statusCode: 404, json: { message: "No such image: app:1 " } });
    expect(deployFailure(engineError, [])).toEqual({
      reason: "preview could not be started: No such image: app:1",
      message: "preview could not be started: No such image: app:1",
    });
  });
});

describe("preview log options", () => {
  it("bound a preview's logs", () => {
    expect(PREVIEW_LOG_OPTIONS).toEqual({ "max-size": "10m", "max-file": "3" });
  });
});

describe("logTailLines", () => {
  it("demultiplexes engine log frames, keeps the last lines and redacts them", () => {
    const redact = createRedactor(["hunter22"]);
    const data = Buffer.concat([frame(1, "one\ntwo\n"), frame(2, "password hunter22\n"), frame(1, "four\n")]);
    expect(logTailLines(data, 3, redact)).toEqual(["two", "password ***", "four"]);
  });

  it("reads a string answer as well", () => {
    expect(logTailLines("", 5, createRedactor([]))).toEqual([]);
  });
});
