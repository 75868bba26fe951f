// Where the project and its installed tools live.
import { join } from "node:path";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const venvBin = (tool: string) => join(repoRoot, ".cache", "venv", "bin", tool);
