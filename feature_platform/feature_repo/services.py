"""Feature services of the demo domain."""

from feature_platform.specs import FeatureService

churn_model_v1 = FeatureService(
    name="churn_model_v1",
    features=[
        "user_profile:country",
        "user_profile:plan",
        "user_profile:is_paying",
        "user_purchase_activity:*",
        "user_session_activity:session_page_views",
        "user_session_activity:page_views_1h",
    ],
    description="Features of the churn model",
    owner="growth-ml@example.com",
)

ALL_SERVICES = [churn_model_v1]
