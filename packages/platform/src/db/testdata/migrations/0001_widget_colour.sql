ALTER TABLE "widgets" ADD COLUMN "colour_name" text;
