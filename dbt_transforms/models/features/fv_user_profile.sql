-- Source of feature view user_profile: a row per profile version.
select
    user_id,
    updated_at as event_timestamp,
    ingested_at as created_timestamp,
    country,
    plan,
    plan <> 'free' as is_paying
from {{ ref('stg_users') }}
