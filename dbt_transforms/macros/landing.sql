{#- The landed raw Parquet files of one table, every ingestion-date partition. -#}
{% macro landing_parquet(table) -%}
read_parquet(
    '{{ env_var("FEATURE_PLATFORM_LANDING", ".feature_platform/landing") | replace("'", "''") }}/{{ table }}/*/*.parquet',
    hive_partitioning = true,
    union_by_name = true
)
{%- endmacro %}
