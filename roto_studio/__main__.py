from roto_studio.cli import main

raise SystemExit(main())
