/** The client's errors: each names what was wrong. */

export const KINDS = ["persona", "tool", "eval", "invocation"] as const;
export type Kind = (typeof KINDS)[number];

export class LoomworkClientError extends Error {
  readonly status: number | null;
  readonly code: string | null;
  constructor(readonly detail: string, options: { status?: number | null; code?: string | null; cause?: unknown } = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status ?? null;
    this.code = options.code ?? null;
  }
}

/** 404: no such artifact in your group, no such name, label or version. */
export class NotFound extends LoomworkClientError {}
/** 401 or 403: the key is missing, wrong, revoked, or its role may not read this. */
export class Forbidden extends LoomworkClientError {}
/** The server could not be reached (or answered 5xx) and there was nothing to serve: no cached answer, no fallback. */
export class Unavailable extends LoomworkClientError {}
/** A kind that is none of persona, tool, eval and invocation (singular or plural): refused before any request,
 * with the code unknown_kind (a NotFound, as the server's missing route would be). */
export class UnknownKind extends NotFound {}
/** render() was not given a value for every {{variable}} the instructions use. */
export class MissingVariables extends LoomworkClientError {
  constructor(detail: string, readonly missing: string[]) {
    super(detail);
  }
}
/** A conversion asked of the wrong kind (a tool format of a persona) or of a config that lacks its parts. */
export class NotApplicable extends LoomworkClientError {}

/** The singular kind for "persona", "personas", "Persona", ...; UnknownKind lists the kinds. */
export function kindName(kind: string): Kind {
  const name = typeof kind === "string" ? kind.trim().toLowerCase() : "";
  for (const candidate of [name, name.endsWith("s") ? name.slice(0, -1) : name]) {
    if ((KINDS as readonly string[]).includes(candidate)) return candidate as Kind;
  }
  throw new UnknownKind(
    `Unknown kind ${JSON.stringify(kind)}: the kinds are ${KINDS.join(", ")} (singular or plural, e.g. 'persona' or 'personas').`,
    { code: "unknown_kind" },
  );
}
