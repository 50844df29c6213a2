import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { brokerEnv, glibcMallocEnv, jemallocPath } from "../../src/local/allocator.js";
import { projectRoot } from "../../src/util/project-root.js";

describe("broker process allocator (docs/decisions/0025-memory-allocator.md)", () => {
  it("gives every broker process the glibc malloc settings; explicit values win", () => {
    const env = brokerEnv({ PATH: "/usr/bin", GEOBROKER_ALLOCATOR: "glibc" });
    assert.equal(env.MALLOC_ARENA_MAX, "2");
    assert.equal(env.MALLOC_MMAP_THRESHOLD_, "131072");
    assert.equal(env.PATH, "/usr/bin");
    assert.equal(brokerEnv({ MALLOC_ARENA_MAX: "4", GEOBROKER_ALLOCATOR: "glibc" }).MALLOC_ARENA_MAX, "4");
  });

  it("preloads jemalloc when installed, never with GEOBROKER_ALLOCATOR=glibc or over an explicit LD_PRELOAD", () => {
    assert.equal(jemallocPath({ GEOBROKER_ALLOCATOR: "glibc" }), undefined);
    assert.equal(brokerEnv({ GEOBROKER_ALLOCATOR: "glibc" }).LD_PRELOAD, undefined);
    assert.equal(brokerEnv({ LD_PRELOAD: "/x.so" }).LD_PRELOAD, "/x.so");
    const found = jemallocPath({});
    assert.equal(brokerEnv({}).LD_PRELOAD, found);
    if (found) assert.match(found, /libjemalloc\.so\.2$/);
  });

  it("the broker image sets the same: jemalloc preloaded and the same glibc settings", () => {
    const dockerfile = readFileSync(join(projectRoot(), "Dockerfile.broker"), "utf8");
    assert.match(dockerfile, /^ENV LD_PRELOAD=\S*libjemalloc\.so\.2$/m);
    for (const [name, value] of Object.entries(glibcMallocEnv))
      assert.match(
        dockerfile,
        new RegExp(`^ENV ${name}=${value}$`, "m"),
        `Dockerfile.broker sets ${name}=${value}`,
      );
  });
});
