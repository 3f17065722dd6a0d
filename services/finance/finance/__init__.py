"""Finance service: budgets, tranches (拨付) and their working-day deadlines, payments, ring-fenced expenses."""
