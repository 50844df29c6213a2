import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { KubeObject, ObjectRef } from "../model/kube-object.js";
import { fieldManager } from "../model/names.js";
import { MicroTime } from "./micro-time.js";

// The operator's only door to the API server: a narrow interface (what the controller needs, in
// its own words) with one implementation on @kubernetes/client-node and fakes in tests.

export interface EventInput {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface Involved {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface KubeClient {
  /** Server-side apply with the operator's field manager; takes over conflicting fields. */
  apply(object: KubeObject): Promise<void>;
  /** Deletes; an object that is already gone is not an error. */
  delete(ref: ObjectRef): Promise<void>;
  /** Sets spec.replicas only (merge patch): for objects the operator no longer builds. */
  scale(ref: ObjectRef, replicas: number): Promise<void>;
  /** Merge patch of the object's spec or metadata (growing a volume claim). */
  patch(ref: ObjectRef, body: Record<string, unknown>): Promise<void>;
  get<T = KubeObject>(ref: ObjectRef): Promise<T | undefined>;
  /**
   * Creates (POST): the answer, or undefined when an object of that name exists already (409). The
   * operator's own Secrets are made this way, so that two replicas never both win; a TokenReview too.
   */
  create<T = KubeObject>(object: KubeObject): Promise<T | undefined>;
  list<T = KubeObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    labelSelector?: string,
  ): Promise<T[]>;
  /** Merge patch of a custom resource's status subresource. */
  patchStatus(ref: ObjectRef & { plural: string }, status: unknown): Promise<void>;
  /** Replaces metadata.finalizers, guarded by resourceVersion so a concurrent change is not lost. */
  setFinalizers(ref: ObjectRef, finalizers: string[], resourceVersion: string | undefined): Promise<void>;
  event(involved: Involved, event: EventInput): Promise<void>;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/** client-node's discovery answer for a kind no API group serves. */
export function isUnservedKind(err: unknown): boolean {
  return err instanceof Error && /^Unrecognized API version and kind/.test(err.message);
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

/** A one-line message for a failed API call: status code and the server's reason. */
export function describeApiError(err: unknown): string {
  if (err instanceof ApiException) {
    const body = typeof err.body === "string" ? safeJson(err.body) : err.body;
    const msg = (body as { message?: string } | undefined)?.message;
    return `HTTP ${err.code}${msg ? `: ${msg}` : ""}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return { message: s.slice(0, 200) };
  }
}

export class ApiServerClient implements KubeClient {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;

  constructor(kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
  }

  async apply(object: KubeObject): Promise<void> {
    await this.objects.patch(
      object as KubernetesObject,
      undefined,
      undefined,
      fieldManager,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.objects.delete(header(ref), undefined, undefined, undefined, undefined, "Background");
    } catch (err) {
      // A kind the API server does not serve (cert-manager never installed) has nothing to delete.
      if (!isNotFound(err) && !isUnservedKind(err)) throw err;
    }
  }

  async scale(ref: ObjectRef, replicas: number): Promise<void> {
    await this.patch(ref, { spec: { replicas } });
  }

  async patch(ref: ObjectRef, body: Record<string, unknown>): Promise<void> {
    await this.objects.patch(
      { ...body, ...header(ref) } as KubernetesObject,
      undefined,
      undefined,
      fieldManager,
      undefined,
      PatchStrategy.MergePatch,
    );
  }

  async get<T>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return (await this.objects.read(header(ref))) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create<T>(object: KubeObject): Promise<T | undefined> {
    try {
      return (await this.objects.create(object as KubernetesObject, undefined, undefined, fieldManager)) as T;
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  async list<T>(apiVersion: string, kind: string, namespace: string, labelSelector?: string): Promise<T[]> {
    const items: T[] = [];
    let continueToken: string | undefined;
    do {
      // A kind nobody serves has no objects: an operator upgraded before its CRDs (helm upgrade
      // leaves CRDs alone) must keep reconciling, without node pools until they are installed.
      const page = await this.objects
        .list(
          apiVersion,
          kind,
          namespace,
          undefined,
          undefined,
          undefined,
          undefined,
          labelSelector,
          500,
          continueToken,
        )
        .catch((err: unknown) => {
          if (isUnservedKind(err)) return { items: [], metadata: {} as { _continue?: string } };
          throw err;
        });
      items.push(...(page.items as T[]));
      continueToken = page.metadata?._continue || undefined;
    } while (continueToken);
    return items;
  }

  async patchStatus(ref: ObjectRef & { plural: string }, status: unknown): Promise<void> {
    const [group, version] = ref.apiVersion.split("/") as [string, string];
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        namespace: ref.namespace,
        plural: ref.plural,
        name: ref.name,
        body: { status },
        fieldManager,
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  }

  async setFinalizers(
    ref: ObjectRef,
    finalizers: string[],
    resourceVersion: string | undefined,
  ): Promise<void> {
    const metadata: Record<string, unknown> = { name: ref.name, namespace: ref.namespace, finalizers };
    if (resourceVersion) metadata.resourceVersion = resourceVersion;
    await this.objects.patch(
      { apiVersion: ref.apiVersion, kind: ref.kind, metadata } as KubernetesObject,
      undefined,
      undefined,
      fieldManager,
      undefined,
      PatchStrategy.MergePatch,
    );
  }

  async event(involved: Involved, event: EventInput): Promise<void> {
    const now = new MicroTime();
    await this.core.createNamespacedEvent({
      namespace: involved.namespace,
      body: {
        metadata: { generateName: `${involved.name}.`, namespace: involved.namespace },
        involvedObject: {
          apiVersion: involved.apiVersion,
          kind: involved.kind,
          name: involved.name,
          namespace: involved.namespace,
          ...(involved.uid ? { uid: involved.uid } : {}),
        },
        type: event.type,
        reason: event.reason,
        message: event.message.slice(0, 1024),
        source: { component: fieldManager },
        reportingComponent: fieldManager,
        reportingInstance: process.env.HOSTNAME ?? fieldManager,
        action: event.reason,
        firstTimestamp: now,
        lastTimestamp: now,
        eventTime: now,
        count: 1,
      },
    });
  }
}

function header(ref: ObjectRef): KubernetesObject & { metadata: { name: string; namespace: string } } {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, namespace: ref.namespace },
  };
}
