import { X509Certificate } from "node:crypto";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { type ContextValues, createContextKey, createContextValues } from "@connectrpc/connect";
import { unauthenticated } from "../engine/errors.js";
import type { AuthContext, Authenticator, Principal } from "./authenticator.js";

// mTLS client identity: the TLS layer has already verified the chain against the client CA; here we
// only read who the certificate names.

/** Which name in the certificate is the principal: the subject CN, or the first URI SAN, else DNS SAN. */
export type CertificateIdentity = "cn" | "san";

/** The principal name a verified client certificate carries, or undefined when it names nobody. */
export function identityFromCertificate(
  cert: Pick<PeerCertificate, "subject" | "subjectaltname">,
  from: CertificateIdentity = "cn",
): string | undefined {
  if (from === "san") {
    const sans = parseSubjectAltName(cert.subjectaltname ?? "");
    return sans.find((s) => s.type === "URI")?.value ?? sans.find((s) => s.type === "DNS")?.value;
  }
  // A subject may repeat CN; node then gives a list. Several CNs are ambiguous: refuse.
  const cn = (cert.subject as Record<string, string | string[]> | undefined)?.CN;
  return typeof cn === "string" && cn.length > 0 ? cn : undefined;
}

/** node:tls renders SANs as `DNS:a, URI:spiffe://x, IP Address:1.2.3.4`, quoting values with commas. */
export function parseSubjectAltName(text: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  const entry = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/g;
  for (let m = entry.exec(text); m !== null && m[0].length > 0; m = entry.exec(text)) {
    const raw = m[2]!;
    out.push({ type: m[1]!.trim(), value: raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.trim() });
  }
  return out;
}

/** Authenticates by the verified client certificate of the connection. */
export class CertificateAuthenticator implements Authenticator {
  constructor(private readonly from: CertificateIdentity = "cn") {}

  async authenticate(_headers: Headers, context?: AuthContext): Promise<Principal> {
    const cert = context?.peerCertificate;
    if (!cert)
      throw unauthenticated("missing credentials: present a client certificate issued by the cluster CA");
    const name = identityFromCertificate(cert, this.from);
    if (!name) {
      throw unauthenticated(
        this.from === "cn"
          ? "the client certificate has no (single) subject CN to use as the user name"
          : "the client certificate has no URI or DNS subject alternative name to use as the user name",
      );
    }
    return { name, method: "certificate" };
  }
}

/** SHA-256 fingerprints (`AB:CD:...`, as node:tls gives them) of every certificate in a PEM bundle. */
export function certificateFingerprints(pem: Buffer | string): Set<string> {
  const out = new Set<string>();
  for (const block of pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ??
    [])
    out.add(new X509Certificate(block).fingerprint256);
  return out;
}

/** The verified client certificate of a request, carried from the HTTP layer to the interceptors. */
export const peerCertificateKey = createContextKey<PeerCertificate | undefined>(undefined, {
  description: "verified client certificate",
});

interface RequestLike {
  socket?: unknown;
}

/**
 * The client certificate of the connection a Node request arrived on, only when the TLS layer
 * verified it (`authorized`): with `rejectUnauthorized: false` a certificate from another CA still
 * reaches us and must be ignored. Works for HTTP/2 (the compat socket proxy) and HTTP/1.1.
 */
export function verifiedPeerCertificate(req: RequestLike): PeerCertificate | undefined {
  const socket = req.socket as Partial<TLSSocket> | undefined;
  if (!socket || typeof socket.getPeerCertificate !== "function" || socket.authorized !== true)
    return undefined;
  // Detailed: with its issuer chain, so the forwarded-identity check can tell which CA issued it.
  const cert = socket.getPeerCertificate(true);
  return cert && Object.keys(cert).length > 0 ? cert : undefined;
}

/** For connect-node's `connectNodeAdapter({ contextValues })`: puts the verified certificate in context. */
export function peerContextValues(req: RequestLike): ContextValues {
  const values = createContextValues();
  const cert = verifiedPeerCertificate(req);
  if (cert) values.set(peerCertificateKey, cert);
  return values;
}

export interface AuthenticatorChain {
  basic?: Authenticator;
  bearer?: Authenticator;
  certificate?: Authenticator;
}

/**
 * One authenticator over the configured modes. The `authorization` scheme picks bearer or basic; a
 * request without one falls back to its client certificate. Failed explicit credentials never fall
 * back: a wrong password with a valid certificate is still a failure.
 */
export function chainAuthenticators(chain: AuthenticatorChain): Authenticator {
  const enabled = [
    chain.basic && "basic (`authorization: basic base64(user:password)`)",
    chain.bearer && "bearer (`authorization: bearer <jwt>`)",
    chain.certificate && "a client certificate",
  ].filter((m): m is string => typeof m === "string");
  if (enabled.length === 0) throw new Error("chainAuthenticators needs at least one authentication mode");
  const accepted = `this server accepts ${enabled.join(", ")}`;
  const byMethod = { basic: chain.basic, bearer: chain.bearer, certificate: chain.certificate };
  return {
    stillValid: (principal) => {
      const from = byMethod[principal.method as keyof typeof byMethod];
      return from?.stillValid ? from.stillValid(principal) : true;
    },
    async authenticate(headers, context) {
      const header = headers.get("authorization")?.trim();
      if (header) {
        const scheme = header.split(/\s/, 1)[0]!.toLowerCase();
        const next = scheme === "bearer" ? chain.bearer : scheme === "basic" ? chain.basic : undefined;
        if (!next)
          throw unauthenticated(`authorization scheme "${scheme.slice(0, 16)}" is not enabled; ${accepted}`);
        return next.authenticate(headers, context);
      }
      if (chain.certificate && context?.peerCertificate)
        return chain.certificate.authenticate(headers, context);
      throw unauthenticated(`missing credentials: ${accepted}`);
    },
  };
}
