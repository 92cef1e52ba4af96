{#- Fails for every row whose `column_name` is less than its `other` column (a timestamp
    before the one it must follow, a 30-day count below the 7-day one). -#}
{% test at_least(model, column_name, other) %}
select *
from {{ model }}
where {{ column_name }} < {{ other }}
{% endtest %}
