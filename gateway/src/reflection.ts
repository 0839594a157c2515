/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) at the edge, for the exposed services
 * only: the file descriptors served are copies of the contracts' files with every method that is not
 * exposed removed, so `grpcurl list/describe` shows exactly what the edge answers.
 *
 * The reflection messages are declared here as a FileDescriptorProto (field numbers from the
 * published grpc/reflection/v1/reflection.proto); they are not part of Mercato's public contracts.
 */
import {
  clone,
  create,
  createFileRegistry,
  type DescFile,
  type DescMessage,
  type DescService,
  type Message,
  toBinary,
} from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { filesWithDependencies } from "@mercato/platform/grpc";
import type { RouteTable } from "./routes.js";

const T = FieldDescriptorProto_Type;

function field(
  name: string,
  number: number,
  type: FieldDescriptorProto_Type,
  options: { repeated?: boolean; typeName?: string; oneofIndex?: number } = {},
) {
  return {
    name,
    number,
    type,
    jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    label: options.repeated ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL,
    ...(options.typeName ? { typeName: options.typeName } : {}),
    ...(options.oneofIndex !== undefined ? { oneofIndex: options.oneofIndex } : {}),
  };
}

/**
 * grpc/reflection/v1(alpha)/reflection.proto as a descriptor. One literal, longer than 80 lines on
 * purpose: it mirrors the .proto message by message, and split up it would no longer read as one.
 */
function reflectionFile(pkg: "grpc.reflection.v1" | "grpc.reflection.v1alpha") {
  const t = (name: string) => `.${pkg}.${name}`;
  return create(FileDescriptorProtoSchema, {
    name: `grpc/reflection/${pkg.split(".")[2]}/reflection.proto`,
    package: pkg,
    syntax: "proto3",
    messageType: [
      {
        name: "ServerReflectionRequest",
        field: [
          field("host", 1, T.STRING),
          field("file_by_filename", 3, T.STRING, { oneofIndex: 0 }),
          field("file_containing_symbol", 4, T.STRING, { oneofIndex: 0 }),
          field("file_containing_extension", 5, T.MESSAGE, {
            oneofIndex: 0,
            typeName: t("ExtensionRequest"),
          }),
          field("all_extension_numbers_of_type", 6, T.STRING, { oneofIndex: 0 }),
          field("list_services", 7, T.STRING, { oneofIndex: 0 }),
        ],
        oneofDecl: [{ name: "message_request" }],
      },
      {
        name: "ExtensionRequest",
        field: [field("containing_type", 1, T.STRING), field("extension_number", 2, T.INT32)],
      },
      {
        name: "ServerReflectionResponse",
        field: [
          field("valid_host", 1, T.STRING),
          field("original_request", 2, T.MESSAGE, { typeName: t("ServerReflectionRequest") }),
          field("file_descriptor_response", 4, T.MESSAGE, {
            oneofIndex: 0,
            typeName: t("FileDescriptorResponse"),
          }),
          field("all_extension_numbers_response", 5, T.MESSAGE, {
            oneofIndex: 0,
            typeName: t("ExtensionNumberResponse"),
          }),
          field("list_services_response", 6, T.MESSAGE, {
            oneofIndex: 0,
            typeName: t("ListServiceResponse"),
          }),
          field("error_response", 7, T.MESSAGE, { oneofIndex: 0, typeName: t("ErrorResponse") }),
        ],
        oneofDecl: [{ name: "message_response" }],
      },
      {
        name: "FileDescriptorResponse",
        field: [field("file_descriptor_proto", 1, T.BYTES, { repeated: true })],
      },
      {
        name: "ExtensionNumberResponse",
        field: [
          field("base_type_name", 1, T.STRING),
          field("extension_number", 2, T.INT32, { repeated: true }),
        ],
      },
      {
        name: "ListServiceResponse",
        field: [field("service", 1, T.MESSAGE, { repeated: true, typeName: t("ServiceResponse") })],
      },
      { name: "ServiceResponse", field: [field("name", 1, T.STRING)] },
      {
        name: "ErrorResponse",
        field: [field("error_code", 1, T.INT32), field("error_message", 2, T.STRING)],
      },
    ],
    service: [
      {
        name: "ServerReflection",
        method: [
          {
            name: "ServerReflectionInfo",
            inputType: t("ServerReflectionRequest"),
            outputType: t("ServerReflectionResponse"),
            clientStreaming: true,
            serverStreaming: true,
          },
        ],
      },
    ],
  });
}

/** The reflection services, v1 and v1alpha (identical messages, different packages). */
export const reflectionServices: readonly DescService[] = (
  ["grpc.reflection.v1", "grpc.reflection.v1alpha"] as const
).map((pkg) => {
  const service = createFileRegistry(reflectionFile(pkg), () => undefined).getService(
    `${pkg}.ServerReflection`,
  );
  if (!service) throw new Error(`cannot build ${pkg}.ServerReflection`);
  return service;
});

type ReflectionRequest = Message & {
  host: string;
  messageRequest:
    | {
        case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices";
        value: string;
      }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
};

/** What reflection serves: descriptor bytes by file name, and the file of every symbol. */
interface ReflectionIndex {
  readonly serviceNames: readonly string[];
  readonly fileBytes: ReadonlyMap<string, Uint8Array>;
  readonly fileDeps: ReadonlyMap<string, readonly string[]>;
  readonly symbolFile: ReadonlyMap<string, string>;
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

function buildIndex(table: RouteTable): ReflectionIndex {
  const exposedMethods = new Set(
    [...table.routes.values()].map((r) => `${r.service.typeName}.${r.method.name}`),
  );
  const exposedServices = new Set(table.services.map((s) => s.typeName));
  const files = filesWithDependencies(table.services.map((s) => s.file));
  const fileBytes = new Map<string, Uint8Array>();
  const fileDeps = new Map<string, string[]>();
  const symbolFile = new Map<string, string>();
  const extensions = new Map<string, Map<number, string>>();

  const addMessage = (name: string, message: DescMessage) => {
    symbolFile.set(message.typeName, name);
    for (const nested of message.nestedMessages) addMessage(name, nested);
    for (const nestedEnum of message.nestedEnums) symbolFile.set(nestedEnum.typeName, name);
    for (const ext of message.nestedExtensions)
      addExtension(name, ext.typeName, ext.extendee.typeName, ext.number);
  };
  const addExtension = (name: string, typeName: string, extendee: string, number: number) => {
    symbolFile.set(typeName, name);
    let byNumber = extensions.get(extendee);
    if (!byNumber) {
      byNumber = new Map();
      extensions.set(extendee, byNumber);
    }
    byNumber.set(number, name);
  };

  for (const file of files as DescFile[]) {
    const name = file.proto.name;
    const proto = clone(FileDescriptorProtoSchema, file.proto);
    proto.service = proto.service
      .map((service) => {
        const typeName = proto.package ? `${proto.package}.${service.name}` : service.name;
        service.method = exposedServices.has(typeName)
          ? service.method.filter((m) => exposedMethods.has(`${typeName}.${m.name}`))
          : [];
        return service;
      })
      .filter((service) => service.method.length > 0);
    fileBytes.set(name, toBinary(FileDescriptorProtoSchema, proto));
    fileDeps.set(
      name,
      file.dependencies.map((d) => d.proto.name),
    );
    for (const service of file.services) {
      if (!exposedServices.has(service.typeName)) continue;
      symbolFile.set(service.typeName, name);
      for (const method of service.methods) {
        const methodName = `${service.typeName}.${method.name}`;
        if (exposedMethods.has(methodName)) symbolFile.set(methodName, name);
      }
    }
    for (const message of file.messages) addMessage(name, message);
    for (const enumDesc of file.enums) symbolFile.set(enumDesc.typeName, name);
    for (const ext of file.extensions) addExtension(name, ext.typeName, ext.extendee.typeName, ext.number);
  }
  return {
    serviceNames: table.services.map((s) => s.typeName),
    fileBytes,
    fileDeps,
    symbolFile,
    extensions,
  };
}

/** A file and everything it imports, transitively, the file first. */
function withDependencies(index: ReflectionIndex, name: string): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const bytes = index.fileBytes.get(file);
    if (bytes) out.push(bytes);
    for (const dep of index.fileDeps.get(file) ?? []) visit(dep);
  };
  visit(name);
  return out;
}

const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

function answer(index: ReflectionIndex, request: ReflectionRequest) {
  const files = (name: string | undefined, what: string) =>
    name === undefined || !index.fileBytes.has(name)
      ? { case: "errorResponse" as const, value: { errorCode: NOT_FOUND, errorMessage: `${what} not found` } }
      : {
          case: "fileDescriptorResponse" as const,
          value: { fileDescriptorProto: withDependencies(index, name) },
        };
  const r = request.messageRequest;
  switch (r.case) {
    case "listServices":
      return {
        case: "listServicesResponse" as const,
        value: { service: index.serviceNames.map((name) => ({ name })) },
      };
    case "fileByFilename":
      return files(r.value, `file ${r.value}`);
    case "fileContainingSymbol":
      return files(index.symbolFile.get(r.value.replace(/^\./, "")), `symbol ${r.value}`);
    case "fileContainingExtension":
      return files(
        index.extensions.get(r.value.containingType.replace(/^\./, ""))?.get(r.value.extensionNumber),
        `extension ${r.value.extensionNumber} of ${r.value.containingType}`,
      );
    case "allExtensionNumbersOfType": {
      const typeName = r.value.replace(/^\./, "");
      if (!index.symbolFile.has(typeName)) {
        return {
          case: "errorResponse" as const,
          value: { errorCode: NOT_FOUND, errorMessage: `type ${r.value} not found` },
        };
      }
      return {
        case: "allExtensionNumbersResponse" as const,
        value: {
          baseTypeName: typeName,
          extensionNumber: [...(index.extensions.get(typeName)?.keys() ?? [])],
        },
      };
    }
    default:
      return {
        case: "errorResponse" as const,
        value: { errorCode: INVALID_ARGUMENT, errorMessage: "unsupported reflection request" },
      };
  }
}

/** Registers ServerReflectionInfo (v1 and v1alpha) on a connect-node router for the table's services. */
export function registerReflection(router: ConnectRouter, table: RouteTable): void {
  const index = buildIndex(table);
  for (const service of reflectionServices) {
    const method = service.methods[0];
    if (method?.methodKind !== "bidi_streaming") throw new Error("reflection descriptor is broken");
    const serve = async function* (requests: AsyncIterable<Message>) {
      for await (const message of requests) {
        const request = message as ReflectionRequest;
        yield create(method.output, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer(index, request),
        } as never);
      }
    };
    router.rpc(method, serve as never);
  }
}
