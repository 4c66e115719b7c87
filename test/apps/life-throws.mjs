// An app whose module throws while it is being loaded (lifecycle tests: exit 22, failed reload).
throw new Error('life-throws: boom while loading the app');
