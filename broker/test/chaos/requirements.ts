import { existsSync } from "node:fs";
import { lossyfsUnavailable } from "./lossy-disk.js";
import { diskKinds, type FaultKind } from "./schedule.js";

// What a fault kind needs of the machine, beyond Node and this repository, and where it is.

const faketimeLibs = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
];

/** libfaketime's multi-threaded library, when installed (Debian: faketime). */
export const faketimeLib = (): string | undefined => faketimeLibs.find((l) => existsSync(l));

/** Why this machine cannot run `kind` (one line), or undefined when it can. */
export function unavailable(kind: FaultKind): string | undefined {
  if (kind === "clock-skew" && !faketimeLib())
    return "needs libfaketime (Debian: apt-get install faketime; .ci/run installs it)";
  if (diskKinds.includes(kind)) return lossyfsUnavailable();
  return undefined;
}
