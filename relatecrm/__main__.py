from relatecrm.cli import main

main()
