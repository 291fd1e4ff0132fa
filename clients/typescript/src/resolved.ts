/** Resolved: one artifact's config at a version, and what an agent does with it. */

import { MissingVariables, NotApplicable } from "./errors.js";

// The same pattern the server reads {{variables}} with.
const VARIABLE = /\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g;
const REASONING_EFFORTS = new Set(["minimal", "low", "medium", "high"]);

export type Source = "server" | "memory" | "disk" | "fallback";
export type Config = Record<string, any>;

export interface ResolvedData {
  id: string;
  kind: string;
  version: number;
  label: string | null;
  etag: string;
  config: Config;
}

export class Resolved implements ResolvedData {
  readonly id: string;
  readonly kind: string;
  readonly version: number;
  readonly label: string | null;
  readonly etag: string;
  readonly config: Config;
  /** True when served without the server's word (it could not be reached). */
  readonly stale: boolean;
  /** When the server last gave or confirmed this answer (ms since the epoch; 0 for a fallback). */
  readonly fetchedAt: number;
  readonly source: Source;

  constructor(data: ResolvedData, extra: { stale?: boolean; fetchedAt?: number; source?: Source } = {}) {
    this.id = data.id;
    this.kind = data.kind;
    this.version = data.version;
    this.label = data.label;
    this.etag = data.etag;
    this.config = data.config;
    this.stale = extra.stale ?? false;
    this.fetchedAt = extra.fetchedAt ?? 0;
    this.source = extra.source ?? "server";
  }

  /** Seconds since the server last gave or confirmed this answer. */
  get age(): number {
    return this.fetchedAt ? Math.max(0, (Date.now() - this.fetchedAt) / 1000) : 0;
  }

  get name(): string | null {
    return typeof this.config.name === "string" ? this.config.name : null;
  }

  /** A copy (the config deep-copied, so a caller's change never reaches the cache), with some fields changed. */
  with(extra: { stale?: boolean; fetchedAt?: number; source?: Source }): Resolved {
    return new Resolved(
      { ...this.data(), config: structuredClone(this.config) },
      { stale: this.stale, fetchedAt: this.fetchedAt, source: this.source, ...extra },
    );
  }

  data(): ResolvedData {
    const { id, kind, version, label, etag, config } = this;
    return { id, kind, version, label, etag, config };
  }

  /** A persona's instructions with every {{variable}} filled in; MissingVariables names each one not given. */
  render(variables: Record<string, unknown> = {}): string {
    const text = this.config.instructions;
    if (typeof text !== "string") {
      throw new NotApplicable(`render: this ${this.kind} ${this.what()} has no instructions text to fill in.`);
    }
    const used = [...new Set([...text.matchAll(VARIABLE)].map((m) => m[1] as string))];
    const missing = used.filter((name) => !(name in variables));
    if (missing.length) {
      throw new MissingVariables(
        `render: no value for ${missing.join(", ")} (the instructions of ${this.kind} ${this.what()} use ${used.join(", ")}).`,
        missing,
      );
    }
    return text.replace(VARIABLE, (_all, name: string) => String(variables[name]));
  }

  /** A tool as OpenAI's function tool: {type: "function", function: {name, description, parameters}}. */
  openaiTool(): { type: "function"; function: { name: string; description: string; parameters: Config } } {
    return { type: "function", function: this.fn() };
  }

  /** A tool as Anthropic's: {name, description, input_schema}. */
  anthropicTool(): { name: string; description: string; input_schema: Config } {
    const fn = this.fn();
    return { name: fn.name, description: fn.description, input_schema: fn.parameters };
  }

  /** An invocation as options of an OpenAI-compatible chat call, never the key: model (flagged invocation_role
   * primary, else the first), temperature when the level is a number 0..2, reasoning_effort when the level is
   * minimal, low, medium or high. */
  openaiOptions(): { model: string; temperature?: number; reasoning_effort?: string } {
    if (this.kind !== "invocation") throw new NotApplicable(`openaiOptions: ${this.kind} ${this.what()} is not an invocation.`);
    const models = ((this.config.models ?? []) as Config[]).filter((m) => m && m.model);
    const primary = models.find((m) => m.flags?.invocation_role === "primary") ?? models[0];
    if (!primary) throw new NotApplicable(`openaiOptions: invocation ${this.what()} names no model.`);
    const options: { model: string; temperature?: number; reasoning_effort?: string } = { model: String(primary.model) };
    const level = this.config.temperature_level;
    const temperature = level === null || level === undefined || level === "" ? NaN : Number(level);
    if (Number.isFinite(temperature) && temperature >= 0 && temperature <= 2) options.temperature = temperature;
    const reasoning = String(this.config.reasoning_level ?? "").trim().toLowerCase();
    if (REASONING_EFFORTS.has(reasoning)) options.reasoning_effort = reasoning;
    return options;
  }

  /** An invocation's endpoint as baseURL for an OpenAI-compatible client (the key is masked: bring your own). */
  openaiClientOptions(): { baseURL?: string } {
    if (this.kind !== "invocation") throw new NotApplicable(`openaiClientOptions: ${this.kind} ${this.what()} is not an invocation.`);
    return this.config.endpoint ? { baseURL: String(this.config.endpoint) } : {};
  }

  private fn(): { name: string; description: string; parameters: Config } {
    const fn = this.config.function;
    if (this.kind !== "tool" || !fn || typeof fn !== "object") {
      throw new NotApplicable(`Tool formats: ${this.kind} ${this.what()} is not a tool with a function.`);
    }
    return {
      name: fn.name || "",
      description: fn.description || "",
      parameters: fn.parameters || { type: "object", properties: {} },
    };
  }

  private what(): string {
    return JSON.stringify(this.name ?? this.id);
  }
}
