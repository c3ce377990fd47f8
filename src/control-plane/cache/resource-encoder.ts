/**
 * Packs ProtoObjects into Anys with a protobufjs Root of the Envoy protos, re-encoding as little as
 * a config change allows.
 *
 * - **Whole resources** are remembered by object identity (weakly) and by content (the object's JSON
 *   text) for the resources of the current and the previous generation. A resource that was
 *   translated again into a new but equal object is not encoded again: a config change re-encodes
 *   only what it changed. The JSON text is several times cheaper to produce than the encoding.
 * - **RouteConfiguration** is encoded one virtual host at a time, and each virtual host is remembered
 *   the same way. A route edit then re-encodes the virtual hosts it changed, not every virtual host of
 *   every node that sees it. The bytes are those of encoding the whole message at once. A message's
 *   encoding is the concatenation of its fields' encodings in field-number order, which is the order
 *   protobufjs writes. A repeated message field is one length-delimited record per element. So the
 *   bytes are: the fields numbered below `virtual_hosts`, then one record per virtual host, then the
 *   fields numbered above it.
 */
import * as protobuf from 'protobufjs';
import { encodeType, packAny, typeForUrl, type ProtoObject } from '../../config/compile/proto-json';
import { encodeVarint32 } from '../../core/varint';
import { TYPE_URL } from './resources';

/** A packed `google.protobuf.Any` in proto-loader shape, ready for `DiscoveryResponse.resources`. */
export interface EncodedAny {
  readonly type_url: string;
  readonly value: Buffer;
}

/** Content → bytes for the current and the previous generation. */
class GenerationMemo<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();

  get(key: string, make: () => V): V {
    let v = this.current.get(key);
    if (v === undefined) {
      v = this.previous.get(key) ?? make();
      this.current.set(key, v);
    }
    return v;
  }

  next(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}

/** A repeated message field encoded element by element (see the file comment). */
interface SplitField {
  readonly name: string;
  /** The length-delimited key of the field: (number << 3) | 2, as a varint. */
  readonly key: Buffer;
  readonly id: number;
  readonly type: protobuf.Type;
  readonly elementType: protobuf.Type;
}

/** Encoder counters, for tests and benchmarks. */
export interface ResourceEncoderStats {
  /** Whole resources encoded (content not seen in this or the previous generation). */
  resources: number;
  /** RouteConfiguration virtual hosts encoded. */
  elements: number;
}

export class ResourceEncoder {
  readonly stats: ResourceEncoderStats = { resources: 0, elements: 0 };
  private readonly memo = new WeakMap<object, EncodedAny>();
  private readonly byContent = new GenerationMemo<EncodedAny>();
  private readonly elements = new GenerationMemo<Buffer>();
  private readonly splits: ReadonlyMap<string, SplitField>;

  constructor(private readonly root: protobuf.Root) {
    const splits = new Map<string, SplitField>();
    const routes = typeForUrl(root, TYPE_URL.ROUTE);
    const field = routes?.fields['virtual_hosts'];
    if (routes !== null && routes !== undefined && field !== undefined && field.repeated && field.resolvedType instanceof protobuf.Type) {
      const key = encodeVarint32((field.id << 3) | 2);
      splits.set(TYPE_URL.ROUTE, { name: field.name, key, id: field.id, type: routes, elementType: field.resolvedType });
    }
    this.splits = splits;
  }

  /** Encodes `obj` as `typeUrl`. Throws on an unknown type; the object is not re-validated. */
  encode(typeUrl: string, obj: ProtoObject): EncodedAny {
    const hit = this.memo.get(obj);
    if (hit !== undefined && hit.type_url === typeUrl) return hit;
    const any = this.byContent.get(typeUrl + '\0' + JSON.stringify(obj), () => this.pack(typeUrl, obj));
    this.memo.set(obj, any);
    return any;
  }

  /**
   * Starts a new generation: content seen only before the previous call is forgotten. Called once
   * per config change (bounded memory: at most two generations of distinct resources are kept).
   */
  nextGeneration(): void {
    this.byContent.next();
    this.elements.next();
  }

  private pack(typeUrl: string, obj: ProtoObject): EncodedAny {
    this.stats.resources++;
    const split = this.splits.get(typeUrl);
    const list = split === undefined ? undefined : obj[split.name];
    if (split === undefined || !Array.isArray(list) || list.length === 0) return packAny(this.root, typeUrl, obj);
    const head: ProtoObject = {};
    const tail: ProtoObject = {};
    for (const k of Object.keys(obj)) {
      if (k === split.name || k === '@type') continue;
      const f = split.type.fields[k];
      if (f === undefined) return packAny(this.root, typeUrl, obj); // let the general path report it
      (f.id < split.id ? head : tail)[k] = obj[k];
    }
    const parts: Buffer[] = [encodeType(this.root, split.type, head)];
    for (let i = 0; i < list.length; i++) {
      const el = list[i] as ProtoObject;
      const bytes = this.elements.get(split.elementType.fullName + '\0' + JSON.stringify(el), () => {
        this.stats.elements++;
        return encodeType(this.root, split.elementType, el);
      });
      parts.push(split.key, encodeVarint32(bytes.length), bytes);
    }
    parts.push(encodeType(this.root, split.type, tail));
    return { type_url: typeUrl, value: Buffer.concat(parts) };
  }
}
