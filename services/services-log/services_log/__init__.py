"""services-log service: Service deliveries (个案, 小组, 社区活动 …), reports, monthly briefs and indicator progress."""
