-- Source of feature view user_session_activity: a row per page view with the state of its
-- session so far (this view included) and the user's views over (t - 1 hour, t].
-- created_timestamp is the latest ingestion among the session's views so far.
with views as (
    select *, epoch_us(viewed_at) as viewed_us
    from {{ ref('stg_page_views') }}
),

windowed as (
    select
        view_id,
        user_id,
        viewed_at as event_timestamp,
        max(ingested_at) over session_so_far as created_timestamp,
        count(*) over session_so_far as session_page_views,
        (viewed_us - min(viewed_us) over session_so_far) / 1e6 as session_duration_s,
        count(*) over last_1h as page_views_1h
    from views
    window
        session_so_far as (
            partition by user_id, session_id order by viewed_us
            range between unbounded preceding and current row
        ),
        last_1h as (
            partition by user_id order by viewed_us
            range between {{ 3600 * 1000000 - 1 }} preceding and current row
        )
)

select
    user_id,
    event_timestamp,
    created_timestamp,
    session_page_views,
    cast(session_duration_s as double) as session_duration_s,
    page_views_1h
from windowed
-- Two views of a user at the same instant (possible only in hand-landed batches): keep the later id.
qualify row_number() over (
    partition by user_id, event_timestamp, created_timestamp order by view_id desc
) = 1
