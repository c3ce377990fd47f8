/**
 * Public surface of translation (mesh config → xDS resources per node).
 */
export { translateForNode, DEFAULT_TRANSLATE_OPTIONS, type TranslateOptions } from './translate-for-node';
export { ClusterMemo } from './cluster-memo';
export { nodeView, translationKey, type NodeView } from './node-view';
export { outboundClusterName, inboundClusterName, hostPortName, INBOUND_NAME, OUTBOUND_NAME } from './names';
