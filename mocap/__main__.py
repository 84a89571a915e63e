from mocap.cli import main

raise SystemExit(main())
