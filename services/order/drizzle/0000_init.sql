CREATE TABLE "order_events" (
	"order_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"event_id" uuid NOT NULL,
	"type" text NOT NULL,
	"payload" "bytea" NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"seq" bigserial NOT NULL,
	CONSTRAINT "order_events_order_id_version_pk" PRIMARY KEY("order_id","version"),
	CONSTRAINT "order_events_eventId_unique" UNIQUE("event_id")
);
--> statement-breakpoint
CREATE TABLE "order_requests" (
	"user_id" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"order_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "order_requests_user_id_idempotency_key_pk" PRIMARY KEY("user_id","idempotency_key")
);
--> statement-breakpoint
CREATE TABLE "order_statistics" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"delta" bigint NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "order_views" (
	"order_id" uuid PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"status" integer NOT NULL,
	"lines" jsonb NOT NULL,
	"currency_code" text NOT NULL,
	"total_minor" bigint NOT NULL,
	"shipping_address" jsonb,
	"payment_id" text DEFAULT '' NOT NULL,
	"shipment_id" text DEFAULT '' NOT NULL,
	"tracking_number" text DEFAULT '' NOT NULL,
	"cancel_reason" text DEFAULT '' NOT NULL,
	"version" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "saga_steps" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"saga_id" uuid NOT NULL,
	"step" integer NOT NULL,
	"state" text NOT NULL,
	"attempt" integer NOT NULL,
	"driver_id" text NOT NULL,
	"detail" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sagas" (
	"saga_id" uuid PRIMARY KEY NOT NULL,
	"order_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"state" integer NOT NULL,
	"step" integer NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"payment_token" text,
	"currency_code" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"lines" jsonb NOT NULL,
	"reserve_attempted" boolean DEFAULT false NOT NULL,
	"authorize_attempted" boolean DEFAULT false NOT NULL,
	"payment_id" text DEFAULT '' NOT NULL,
	"committed" boolean DEFAULT false NOT NULL,
	"restocked_lines" integer DEFAULT 0 NOT NULL,
	"captured" boolean DEFAULT false NOT NULL,
	"cancel_requested" boolean DEFAULT false NOT NULL,
	"reason" text DEFAULT '' NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "sagas_orderId_unique" UNIQUE("order_id")
);
--> statement-breakpoint
CREATE INDEX "order_events_seq_idx" ON "order_events" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "order_statistics_key_idx" ON "order_statistics" USING btree ("key");--> statement-breakpoint
CREATE INDEX "order_views_user_idx" ON "order_views" USING btree ("user_id","created_at" DESC NULLS LAST,"order_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "order_views_status_idx" ON "order_views" USING btree ("status");--> statement-breakpoint
CREATE INDEX "saga_steps_saga_idx" ON "saga_steps" USING btree ("saga_id","id");--> statement-breakpoint
CREATE INDEX "sagas_due_idx" ON "sagas" USING btree ("next_attempt_at") WHERE "sagas"."state" in (1, 3);