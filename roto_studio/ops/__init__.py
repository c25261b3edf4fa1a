"""Operations shared by the window, the CLI, the server and the farm: work on an alpha source and
media (not on a whole project, not on Qt), so every front end runs the same code. Below `ui`,
`workers`, `commands`, `server` and `client`; above `models` and `core`."""
