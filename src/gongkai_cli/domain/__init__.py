"""What the rules mean, said once: statuses and what follows from them, units and which one a
name means, exit codes. Pure and cheap to import: no input, output or storage here."""
