import { initialMetadataState, type MetadataState } from "../../src/cluster/state/metadata-state.js";

/** A metadata state whose nodes are `ids`, each in the region its id starts with (`eu-0`: eu), at made-up addresses. */
export function metadataStateOf(ids: readonly string[]): MetadataState {
  return initialMetadataState(
    ids.map((id) => ({
      id,
      region: id.slice(0, 2),
      zone: "",
      peerAddress: `${id}:9100`,
      clientAddress: `${id}:9000`,
    })),
  );
}
