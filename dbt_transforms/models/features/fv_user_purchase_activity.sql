-- Source of feature view user_purchase_activity: a row per order with the user's rolling
-- aggregates over (t - 7 days, t] and (t - 30 days, t], this order included.
-- The frames run over whole microseconds since the epoch: a RANGE frame of N - 1 microseconds
-- PRECEDING is exactly the half-open window that excludes an order N microseconds earlier.
-- created_timestamp is the latest ingestion in the 30-day frame: the moment the aggregate
-- became knowable, so a late order raises it on every row whose value it changes.
with orders as (
    select *, epoch_us(ordered_at) as ordered_us
    from {{ ref('stg_orders') }}
),

windowed as (
    select
        order_id,
        user_id,
        ordered_at as event_timestamp,
        max(ingested_at) over last_30d as created_timestamp,
        count(*) over last_7d as purchases_7d,
        sum(amount) over last_7d as spend_7d,
        count(*) over last_30d as purchases_30d,
        sum(amount) over last_30d as spend_30d
    from orders
    window
        last_7d as (
            partition by user_id order by ordered_us
            range between {{ 7 * 86400 * 1000000 - 1 }} preceding and current row
        ),
        last_30d as (
            partition by user_id order by ordered_us
            range between {{ 30 * 86400 * 1000000 - 1 }} preceding and current row
        )
)

select
    user_id,
    event_timestamp,
    created_timestamp,
    purchases_7d,
    spend_7d,
    purchases_30d,
    spend_30d,
    spend_30d / purchases_30d as avg_order_value_30d
from windowed
-- Two orders of a user at the same instant are frame peers with equal aggregates: keep one.
qualify row_number() over (
    partition by user_id, event_timestamp, created_timestamp order by order_id desc
) = 1
