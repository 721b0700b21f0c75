"""Reading other tools' reports into the results store (STM32Cube.AI)."""
