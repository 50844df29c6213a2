import type http2 from "node:http2";
import type { PeerCertificate } from "node:tls";
import type { Logger } from "../observability/logger.js";
import { type Message, MessageType } from "../raft/types.js";
import { rateLimited } from "../security/auth-throttle.js";
import { type PeerBinding, peerBinding, senderProblem } from "../security/peer-binding.js";
import { peerIdentityProblem } from "../security/peer-identity.js";

// The peer server's sender check: each TLS connection is bound to the node its certificate names
// (security/peer-binding.ts), and whatever arrives on it claiming another sender is dropped. The
// refusals are audit lines, rate-limited per bound identity: a compromised node flooding forged
// messages must not flood the log too.

export interface PeerIdentityRules {
  allowedIdentities?: readonly string[];
  sharedIdentities?: readonly string[];
}

export class PeerSenders {
  private readonly bindings = new WeakMap<http2.Http2Session, PeerBinding>();
  /** Messages, streams and Control requests refused for naming another sender (tests, metrics). */
  refused = 0;
  private readonly log: (key: string, fields: Record<string, unknown>) => void;

  constructor(
    private readonly rules: PeerIdentityRules | undefined,
    logger: Logger | undefined,
  ) {
    this.log = rateLimited((fields: Record<string, unknown>) =>
      logger?.warn("refusing a peer message from another sender", { audit: true, ...fields }),
    );
  }

  /**
   * Decides a new TLS session: why it is refused (its certificate names no allowed node identity, or
   * no node id and is not shared), or undefined after binding it. Without TLS nothing is bound.
   */
  admit(session: http2.Http2Session): string | undefined {
    const socket = session.socket as unknown as { getPeerCertificate?: () => PeerCertificate };
    if (!this.rules?.allowedIdentities || !socket.getPeerCertificate) return undefined;
    const cert = socket.getPeerCertificate();
    const problem = peerIdentityProblem(cert, this.rules.allowedIdentities);
    if (problem) return problem;
    const binding = peerBinding(cert, this.rules.sharedIdentities ?? []);
    if ("problem" in binding) return binding.problem;
    this.bindings.set(session, binding);
    return undefined;
  }

  /** Why `claimed` may not speak on the stream's connection (logged and counted), or undefined. */
  refusal(stream: http2.ServerHttp2Stream, claimed: string, what: string): string | undefined {
    const binding = stream.session ? this.bindings.get(stream.session) : undefined;
    const problem = senderProblem(binding, claimed);
    if (problem && binding?.kind === "node") {
      this.refused++;
      this.log(binding.nodeId, { reason: problem, what, remote: stream.session?.socket?.remoteAddress });
    }
    return problem;
  }

  /** The messages of a batch whose `from` is the connection's node; the others are refused. */
  keepOwn(stream: http2.ServerHttp2Stream, messages: Message[]): Message[] {
    return messages.filter(
      (m) => this.refusal(stream, m.from, `raft ${MessageType[m.type]} for group ${m.groupId}`) === undefined,
    );
  }
}
