CREATE TABLE products (
    sku          text PRIMARY KEY,
    name         text NOT NULL,
    price_cents  integer NOT NULL CHECK (price_cents >= 0),
    stock        integer NOT NULL DEFAULT 0 CHECK (stock >= 0)
);
CREATE INDEX products_name_lower ON products (lower(name));
