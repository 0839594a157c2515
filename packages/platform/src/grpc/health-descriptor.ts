import { create, toBinary } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";

/**
 * grpc/health/v1/health.proto as an encoded FileDescriptorProto, for reflection. The descriptor
 * grpc-health-check gets from proto-loader names its map entry "Statuses" and uses relative type
 * names, which grpcurl (Go protodesc) rejects; this one follows the published file.
 */
export const healthFileDescriptorProto: Uint8Array = toBinary(
  FileDescriptorProtoSchema,
  create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      {
        name: "HealthCheckRequest",
        field: [
          { name: "service", number: 1, label: Label.OPTIONAL, type: Type.STRING, jsonName: "service" },
        ],
      },
      {
        name: "HealthCheckResponse",
        field: [
          {
            name: "status",
            number: 1,
            label: Label.OPTIONAL,
            type: Type.ENUM,
            typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus",
            jsonName: "status",
          },
        ],
        enumType: [
          {
            name: "ServingStatus",
            value: [
              { name: "UNKNOWN", number: 0 },
              { name: "SERVING", number: 1 },
              { name: "NOT_SERVING", number: 2 },
              { name: "SERVICE_UNKNOWN", number: 3 },
            ],
          },
        ],
      },
      { name: "HealthListRequest" },
      {
        name: "HealthListResponse",
        field: [
          {
            name: "statuses",
            number: 1,
            label: Label.REPEATED,
            type: Type.MESSAGE,
            typeName: ".grpc.health.v1.HealthListResponse.StatusesEntry",
            jsonName: "statuses",
          },
        ],
        nestedType: [
          {
            name: "StatusesEntry",
            field: [
              { name: "key", number: 1, label: Label.OPTIONAL, type: Type.STRING, jsonName: "key" },
              {
                name: "value",
                number: 2,
                label: Label.OPTIONAL,
                type: Type.MESSAGE,
                typeName: ".grpc.health.v1.HealthCheckResponse",
                jsonName: "value",
              },
            ],
            options: { mapEntry: true },
          },
        ],
      },
    ],
    service: [
      {
        name: "Health",
        method: [
          {
            name: "Check",
            inputType: ".grpc.health.v1.HealthCheckRequest",
            outputType: ".grpc.health.v1.HealthCheckResponse",
          },
          {
            name: "Watch",
            inputType: ".grpc.health.v1.HealthCheckRequest",
            outputType: ".grpc.health.v1.HealthCheckResponse",
            serverStreaming: true,
          },
          {
            name: "List",
            inputType: ".grpc.health.v1.HealthListRequest",
            outputType: ".grpc.health.v1.HealthListResponse",
          },
        ],
      },
    ],
    options: { goPackage: "google.golang.org/grpc/health/grpc_health_v1" },
  }),
);
