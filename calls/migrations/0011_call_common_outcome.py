"""The common outcome column; 0012 fills it, 0013 indexes it (after the fill: cheaper)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0010_webhook_tally_and_account_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='call',
            name='common_outcome',
            field=models.CharField(blank=True, choices=[('completed', 'Completed'), ('voicemail', 'Voicemail / machine'), ('no_answer', 'No answer'), ('busy', 'Busy'), ('declined', 'Declined'), ('callback_requested', 'Callback requested'), ('transferred', 'Transferred'), ('dropped', 'Dropped'), ('failed_vendor', 'Failed (vendor)'), ('failed_number', 'Failed (number)'), ('opted_out', 'Opted out')], db_default='', max_length=20, verbose_name='outcome'),
        ),
    ]
