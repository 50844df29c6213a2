import assert from "node:assert/strict";
import { test } from "node:test";
import { consoleCommand } from "../../src/cli/console.js";
import { localCommand } from "../../src/cli/local.js";
import { serveCommand } from "../../src/cli/serve.js";

// Every command refuses a flag it does not know with exit 2, the parse error and its usage, before
// doing any work (no node started, no port bound, no folder touched).
for (const command of [serveCommand, localCommand, consoleCommand]) {
  test(`geobroker ${command.name} refuses an unknown flag with exit 2 and its usage`, async (t) => {
    const lines: string[] = [];
    t.mock.method(console, "error", (line: string) => lines.push(line));
    assert.equal(await command.run(["--no-such-flag"]), 2);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`^geobroker ${command.name}: Unknown option '--no-such-flag'`));
    assert.ok(lines[0]!.includes(command.usage), "the usage follows the error");
  });
}
