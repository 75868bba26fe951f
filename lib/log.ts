// Structured JSON lines. Callers pass a job id as `job`; nothing secret is ever passed in.
export type Fields = Record<string, unknown>;
export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  with(fields: Fields): Logger;
}

const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function errorFields(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, ...("code" in v ? { code: (v as { code: unknown }).code } : {}) };
  return v;
}

export function createLogger(service: string, opts: { level?: Level; write?: (line: string) => void; base?: Fields } = {}): Logger {
  const min = order[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => process.stdout.write(line + "\n"));
  const base = { service, ...opts.base };
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (order[level] < min) return;
    const rec: Fields = { t: new Date().toISOString(), level, ...base, msg };
    for (const [k, v] of Object.entries(fields ?? {})) rec[k] = errorFields(v);
    write(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => createLogger(service, { ...opts, base: { ...opts.base, ...fields } }),
  };
}

export function levelFromEnv(v: string | undefined): Level {
  return v === "debug" || v === "warn" || v === "error" ? v : "info";
}
