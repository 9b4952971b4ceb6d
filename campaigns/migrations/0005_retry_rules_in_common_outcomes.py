"""Stored retry rules keyed by the older outcome names now name the common outcomes
(campaigns.schedule.common_retry_rules: "not_picked" becomes "no_answer", "rejected" becomes
"busy" and "declined", ...). Campaigns are few: a loop over them is fine."""

from django.db import migrations


def translate(apps, schema_editor):
    from campaigns.schedule import common_retry_rules

    campaign_model = apps.get_model("campaigns", "Campaign")
    for campaign in campaign_model.objects.exclude(retry_rules={}):
        translated = common_retry_rules(campaign.retry_rules)
        if translated != campaign.retry_rules:
            campaign.retry_rules = translated
            campaign.save(update_fields=["retry_rules"])


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_audience_list_and_import"),
        ("calls", "0013_common_outcome_index_and_rules"),
    ]

    operations = [migrations.RunPython(translate, migrations.RunPython.noop)]
