/**
 * Decoder for the Kubernetes protobuf wire format, for the few request bodies helm's typed client
 * sends that way (`application/vnd.kubernetes.protobuf`): the release Secrets (and ConfigMaps with
 * HELM_DRIVER=configmap) and DeleteOptions. Responses stay JSON, which clients accept.
 */

/** Magic prefix of every Kubernetes protobuf body. */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Field = { number: number; wire: number; value: bigint | Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated varint");
    const byte = buf[pos++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, afterTag] = readVarint(buf, pos);
    pos = afterTag;
    const number = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [value, next] = readVarint(buf, pos);
      out.push({ number, wire, value });
      pos = next;
    } else if (wire === 2) {
      const [length, next] = readVarint(buf, pos);
      const end = next + Number(length);
      if (end > buf.length) throw new Error("truncated field");
      out.push({ number, wire, value: buf.subarray(next, end) });
      pos = end;
    } else if (wire === 1) {
      out.push({ number, wire, value: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 5) {
      out.push({ number, wire, value: buf.subarray(pos, pos + 4) });
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

const str = (f: Field): string => (f.value as Buffer).toString("utf8");
const bytes = (f: Field): Buffer => f.value as Buffer;
const int = (f: Field): number => Number(BigInt.asIntN(64, f.value as bigint));

function mapEntry(buf: Buffer): [string, Buffer] {
  let key = "";
  let value: Buffer = Buffer.alloc(0);
  for (const f of fields(buf)) {
    if (f.number === 1) key = str(f);
    if (f.number === 2) value = bytes(f);
  }
  return [key, value];
}

function time(buf: Buffer): string {
  let seconds = 0;
  for (const f of fields(buf)) if (f.number === 1) seconds = int(f);
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function ownerReference(buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields(buf)) {
    if (f.number === 1) out.kind = str(f);
    if (f.number === 3) out.name = str(f);
    if (f.number === 4) out.uid = str(f);
    if (f.number === 5) out.apiVersion = str(f);
    if (f.number === 6) out.controller = int(f) !== 0;
    if (f.number === 7) out.blockOwnerDeletion = int(f) !== 0;
  }
  return out;
}

function objectMeta(buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const owners: unknown[] = [];
  const finalizers: string[] = [];
  for (const f of fields(buf)) {
    switch (f.number) {
      case 1:
        out.name = str(f);
        break;
      case 2:
        out.generateName = str(f);
        break;
      case 3:
        out.namespace = str(f);
        break;
      case 5:
        out.uid = str(f);
        break;
      case 6:
        out.resourceVersion = str(f);
        break;
      case 7:
        out.generation = int(f);
        break;
      case 8:
        out.creationTimestamp = time(bytes(f));
        break;
      case 11: {
        const [k, v] = mapEntry(bytes(f));
        labels[k] = v.toString("utf8");
        break;
      }
      case 12: {
        const [k, v] = mapEntry(bytes(f));
        annotations[k] = v.toString("utf8");
        break;
      }
      case 13:
        owners.push(ownerReference(bytes(f)));
        break;
      case 14:
        finalizers.push(str(f));
        break;
      default:
        break;
    }
  }
  if (Object.keys(labels).length) out.labels = labels;
  if (Object.keys(annotations).length) out.annotations = annotations;
  if (owners.length) out.ownerReferences = owners;
  if (finalizers.length) out.finalizers = finalizers;
  // Unset timestamps arrive as the zero time; JSON clients send null.
  if (out.creationTimestamp === "0001-01-01T00:00:00Z" || out.creationTimestamp === new Date(0).toISOString().replace(/\.\d{3}Z$/, "Z")) delete out.creationTimestamp;
  return out;
}

function secret(buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = { metadata: {} };
  const data: Record<string, string> = {};
  const stringData: Record<string, string> = {};
  for (const f of fields(buf)) {
    if (f.number === 1) out.metadata = objectMeta(bytes(f));
    if (f.number === 2) {
      const [k, v] = mapEntry(bytes(f));
      data[k] = v.toString("base64");
    }
    if (f.number === 3) out.type = str(f);
    if (f.number === 4) {
      const [k, v] = mapEntry(bytes(f));
      stringData[k] = v.toString("utf8");
    }
    if (f.number === 5) out.immutable = int(f) !== 0;
  }
  if (Object.keys(data).length) out.data = data;
  if (Object.keys(stringData).length) out.stringData = stringData;
  return out;
}

function configMap(buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = { metadata: {} };
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  for (const f of fields(buf)) {
    if (f.number === 1) out.metadata = objectMeta(bytes(f));
    if (f.number === 2) {
      const [k, v] = mapEntry(bytes(f));
      data[k] = v.toString("utf8");
    }
    if (f.number === 3) {
      const [k, v] = mapEntry(bytes(f));
      binaryData[k] = v.toString("base64");
    }
    if (f.number === 4) out.immutable = int(f) !== 0;
  }
  if (Object.keys(data).length) out.data = data;
  if (Object.keys(binaryData).length) out.binaryData = binaryData;
  return out;
}

function deleteOptions(buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields(buf)) {
    if (f.number === 1) out.gracePeriodSeconds = int(f);
    if (f.number === 3) out.orphanDependents = int(f) !== 0;
    if (f.number === 4) out.propagationPolicy = str(f);
    if (f.number === 5) out.dryRun = [...((out.dryRun as string[]) ?? []), str(f)];
  }
  return out;
}

const DECODERS: Record<string, (buf: Buffer) => Record<string, unknown>> = {
  Secret: secret,
  ConfigMap: configMap,
  DeleteOptions: deleteOptions,
};

/**
 * Decode a protobuf request body into its JSON form.
 * @throws Error for kinds this decoder does not know (the fake answers 415).
 */
export function decodeKubeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw new Error("missing the k8s protobuf magic prefix");
  let apiVersion = "";
  let kind = "";
  let raw: Buffer = Buffer.alloc(0);
  for (const f of fields(body.subarray(4))) {
    if (f.number === 1) {
      for (const t of fields(bytes(f))) {
        if (t.number === 1) apiVersion = str(t);
        if (t.number === 2) kind = str(t);
      }
    }
    if (f.number === 2) raw = bytes(f);
  }
  const decode = DECODERS[kind];
  if (!decode) throw new Error(`protobuf bodies of kind ${kind || "(none)"} are not supported by the fake`);
  return { apiVersion, kind, ...decode(raw) };
}
