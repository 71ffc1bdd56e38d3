// What both entries (Node and browser) export beside their transport factories: the generated
// services and messages, and the few protobuf and Connect helpers callers need with them.
export { Code, ConnectError, type CallOptions, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
export { create, fromJson, toJson, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
export { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
export * from "./gen/keeptrusts/v1/chat_pb.js";
export * from "./gen/keeptrusts/v1/governance_pb.js";
