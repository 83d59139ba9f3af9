from sigsup.cli import main

main()
