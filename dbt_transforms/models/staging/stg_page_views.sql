-- One row per view_id; a re-delivered view keeps its latest delivery.
select
    cast(view_id as bigint) as view_id,
    cast(user_id as bigint) as user_id,
    cast(session_id as varchar) as session_id,
    cast(viewed_at as timestamptz) as viewed_at,
    cast(page as varchar) as page,
    cast(ingested_at as timestamptz) as ingested_at
from {{ landing_parquet('page_views') }}
qualify row_number() over (partition by view_id order by {{ latest_delivery_first() }}) = 1
