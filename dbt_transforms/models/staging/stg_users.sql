-- One row per profile version (user_id, updated_at); a re-delivered version keeps its latest delivery.
select
    cast(user_id as bigint) as user_id,
    cast(signup_at as timestamptz) as signup_at,
    cast(country as varchar) as country,
    cast(plan as varchar) as plan,
    cast(updated_at as timestamptz) as updated_at,
    cast(ingested_at as timestamptz) as ingested_at
from {{ landing_parquet('users') }}
qualify row_number() over (partition by user_id, updated_at order by {{ latest_delivery_first() }}) = 1
