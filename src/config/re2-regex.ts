/**
 * Regular expressions from config, with RE2's syntax and semantics (Envoy's `safe_regex` /
 * `google_re2`, Istio's `regex` fields, protovalidate's `string.pattern`). Compiled once at config
 * time by `@bufbuild/re2`, an RE2 engine in JavaScript: matching time is linear in the input, so a
 * pattern such as `^/(\w+/?)+$` cannot be driven into exponential backtracking by a crafted path or
 * header, which a JS `RegExp` would allow. RE2 also differs from JS in meaning (`\s` is ASCII, `.`
 * excludes only `\n`, POSIX classes, `\p{..}`, `\z`, `(?P<name>..)`, inline flags), so using the
 * engine itself keeps Remora's matches equal to Envoy's.
 */
import { RE2JS } from '@bufbuild/re2';

/** An RE2 pattern that did not compile; `message` is RE2's own ("error parsing regexp: …"). */
export class Re2SyntaxError extends Error {
  readonly code = 'REMORA_ERR_RE2_SYNTAX';
  constructor(readonly pattern: string, message: string) {
    super(message);
    this.name = 'Re2SyntaxError';
  }
}

/** A compiled RE2 pattern. Immutable from the outside; shareable across requests. */
export class Re2Regex {
  private constructor(
    /** The pattern as written in config (config dumps show it). */
    readonly source: string,
    private readonly re: RE2JS,
  ) {}

  /** Compiles `pattern`; throws `Re2SyntaxError` when RE2 rejects it. Config time only. */
  static compile(pattern: string): Re2Regex {
    try {
      return new Re2Regex(pattern, RE2JS.compile(pattern));
    } catch (e) {
      throw new Re2SyntaxError(pattern, (e as Error).message);
    }
  }

  /** True when the whole of `value` matches (RE2::FullMatch; Envoy's regex matchers). */
  fullMatch(value: string): boolean {
    return this.re.matches(value);
  }

  /** True when some part of `value` matches (RE2::PartialMatch; CEL `matches()`, `string.pattern`). */
  find(value: string): boolean {
    return this.re.test(value);
  }

  /** The pattern text, so JSON config dumps show it. */
  toJSON(): string {
    return this.source;
  }
}
