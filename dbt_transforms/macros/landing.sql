{#- The landed raw Parquet files of one table, every ingestion-date partition, with each row's
    file and position in it (`filename`, `file_row_number`): the tie-breaker of deduplication. -#}
{% macro landing_parquet(table) -%}
read_parquet(
    '{{ env_var("FEATURE_PLATFORM_LANDING", ".feature_platform/landing") | replace("'", "''") }}/{{ table }}/*/*.parquet',
    hive_partitioning = true,
    union_by_name = true,
    filename = true,
    file_row_number = true
)
{%- endmacro %}

{#- Newest delivery first; among deliveries with the same ingested_at, the later landing file
    (by name) and the later row in it win, so every build resolves duplicates the same way. -#}
{% macro latest_delivery_first() -%}
ingested_at desc, filename desc, file_row_number desc
{%- endmacro %}
