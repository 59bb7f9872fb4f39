from wlbridge.cli import main

raise SystemExit(main())
