// mercato.common.v1: Money, Address, paging and the edge access options.
export * from "../gen/mercato/common/v1/address_pb.js";
export * from "../gen/mercato/common/v1/money_pb.js";
export * from "../gen/mercato/common/v1/options_pb.js";
export * from "../gen/mercato/common/v1/paging_pb.js";
