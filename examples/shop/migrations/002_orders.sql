CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    total_cents  integer NOT NULL,
    placed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE order_lines (
    order_id     bigint NOT NULL REFERENCES orders (id),
    sku          text NOT NULL REFERENCES products (sku),
    quantity     integer NOT NULL CHECK (quantity > 0),
    price_cents  integer NOT NULL
);
CREATE TABLE sent_emails (
    id        bigserial PRIMARY KEY,
    order_id  bigint NOT NULL,
    kind      text NOT NULL,
    sent_at   timestamptz NOT NULL DEFAULT now()
);
