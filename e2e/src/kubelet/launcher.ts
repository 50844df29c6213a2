// The shell script a container starts with, inside its pod's network namespace (`ip netns exec`
// also gives it a private mount namespace): bind the pod's volumes, resolv.conf and hosts file at
// the paths the pod spec names, then drop to the container's user and exec the entrypoint, so the
// process the kubelet holds is the container's main process (kill -9 hits the broker itself).

export interface Mount {
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
}

export interface LaunchSpec {
  mounts: Mount[];
  resolvConf: string;
  hostsFile: string;
  hostname: string;
  workingDir: string;
  user: { uid: number; gid: number; groups: number[] } | undefined;
  argv: string[];
  env: Record<string, string>;
}

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function launchScript(spec: LaunchSpec): string {
  const lines = ["set -e", `hostname ${shellQuote(spec.hostname)}`];
  // Parents before children, so /etc/geobroker/tls/peer is bound after anything above it.
  const mounts = [
    ...[...spec.mounts].sort((a, b) => a.mountPath.length - b.mountPath.length),
    { hostPath: spec.resolvConf, mountPath: "/etc/resolv.conf", readOnly: true },
    { hostPath: spec.hostsFile, mountPath: "/etc/hosts", readOnly: true },
  ];
  for (const m of mounts) {
    const target = shellQuote(m.mountPath);
    if (m.mountPath.startsWith("/etc/resolv.conf") || m.mountPath.startsWith("/etc/hosts")) {
      lines.push(`mount --bind ${shellQuote(m.hostPath)} ${target}`);
    } else {
      lines.push(`mkdir -p ${target}`, `mount --bind ${shellQuote(m.hostPath)} ${target}`);
    }
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  lines.push(`cd ${shellQuote(spec.workingDir)}`);
  const argv = spec.argv.map(shellQuote).join(" ");
  if (spec.user && spec.user.uid !== 0) {
    const groups = spec.user.groups.length > 0 ? `--groups=${spec.user.groups.join(",")}` : "--clear-groups";
    lines.push(`exec setpriv --reuid=${spec.user.uid} --regid=${spec.user.gid} ${groups} -- ${argv}`);
  } else {
    lines.push(`exec ${argv}`);
  }
  return `${lines.join("\n")}\n`;
}
