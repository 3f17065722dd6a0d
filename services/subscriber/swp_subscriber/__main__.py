from swp_subscriber.cli import main

main()
