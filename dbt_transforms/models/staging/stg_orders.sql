-- One row per order_id; a re-delivered order keeps its latest delivery.
select
    cast(order_id as bigint) as order_id,
    cast(user_id as bigint) as user_id,
    cast(ordered_at as timestamptz) as ordered_at,
    cast(amount as double) as amount,
    cast(items as bigint) as items,
    cast(ingested_at as timestamptz) as ingested_at
from {{ landing_parquet('orders') }}
qualify row_number() over (partition by order_id order by {{ latest_delivery_first() }}) = 1
